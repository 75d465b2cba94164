"""Assessment reports (考核报告, DESIGN.md §7): figures, server-side charts, HTML and PDF.

`data` gathers the figures of one unit and period into a JSON-ready dict, `charts` draws
SVG charts with matplotlib (also for the web dashboards: no JavaScript is needed to show
them, and the PDF renderer runs none), `render` turns the figures into an HTML page and a
PDF. Storing and versioning the files is `ticketing.services.reports`.
"""

"""Boundaries, coordinate systems and routing. Knows nothing of tickets.

The declarative `Base` lives here because geo is the bottom layer: ticketing's models
share its metadata, so one migration environment sees every table.
"""

"""The 12345 / 311 hotline bridge (issue 7 item 4, DESIGN.md §8).

Two directions:

* `hotline`: import a hotline's export (CSV or JSON) through a documented column mapping;
  every row is created (routed by polygon like any report), skipped (already imported) or
  rejected with a reason, with a dry run that writes nothing;
* `webhooks`: push every state change of the tickets a partner follows to the partner's URL,
  signed (HMAC-SHA256 over timestamp and body), from an outbox with retries and backoff.

The CLI is `flask hotline ...` (`ticketing.bridge.cli`); `docs/hotline.md` is the manual.
"""

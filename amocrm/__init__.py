"""The amoCRM connection: OAuth install, the API v4 client, webhooks, and the sync that keeps an account current.

Library modules (no FastAPI, no store): `errors`, `ratelimit`, `oauth`, `tokens`, `client`, `webhooks`,
and `standin` (a local amoCRM for tests and the demo). `sync` ties them to the store and the job runner.
"""

"""The embedded local stack: moto server + the infra template + a dispatcher + chalice's local server.

Run it with ``make run`` (``python -m infra.local``).
"""

"""CRM integrations (R13).

- ``registry.py``: one ``CrmProvider`` entry per CRM; every provider-specific decision is looked up there;
- ``base.py``: the client port, the vetted HTTP transport and the ``CrmProvider`` record;
- ``webhooks.py``: what every provider's webhook shares (X-Optout-Signature, the change record, parsing);
- one module per CRM (``salesforce.py``, ``hubspot.py``): its client, its webhook body, its signature.
"""

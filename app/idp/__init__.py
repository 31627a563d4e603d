"""The embedded identity provider: Canaille on 127.0.0.1, its data under var/idp.

`make run` starts it when OIDC_METADATA_URL is empty, registers Nexus as a client, and makes a
first admin. With a company provider configured, none of this runs.
"""

"""Who is calling and what they may do: identities from tokens, OIDC and proxy headers, roles from bindings."""

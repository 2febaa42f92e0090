"""Rules every layer applies: domain names, DNS record content, and whether an installed
certificate can be taken over (pure, standard library and third-party imports only)."""

"""Rules every layer applies: domain names and DNS record content (pure, standard library and
third-party imports only)."""

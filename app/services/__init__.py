"""Business rules and the transactions that apply them; views and jobs call these."""

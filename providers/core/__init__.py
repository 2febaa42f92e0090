"""What every provider shares: errors, retries, the HTTP boundary, configuration, name rules."""

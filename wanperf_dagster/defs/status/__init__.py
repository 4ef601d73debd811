"""Status: what is wrong now, refreshed after every sweep."""

"""Practice setup shared by every clinic: locations and providers."""

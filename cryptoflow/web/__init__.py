"""What the workers serve over HTTP: JSON API views, their parsing, the live feed, the dashboard."""

"""The dashboard's blueprints: one per page family, plus the JSON API."""

"""The app's widgets, one per module. They draw what they are given and post messages; no game rules here."""

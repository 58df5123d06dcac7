"""The app's screens: the game (main), training, conversion, and small dialogs."""

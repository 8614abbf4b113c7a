"""The operations-centre dashboard, served by Kengele itself: plain HTML and ES modules, no build step."""

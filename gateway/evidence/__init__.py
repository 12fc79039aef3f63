"""What auditors get: evidence packages, standard exports and the installation's verify."""

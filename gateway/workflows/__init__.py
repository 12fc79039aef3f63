"""The clause 8.2.1 workflows over filed cases: lifecycle, reviews, feedback, property, ..."""

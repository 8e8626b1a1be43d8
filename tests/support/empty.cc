// Keeps keygate_test_support non-empty before other support sources exist.

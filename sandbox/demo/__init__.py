"""The blocking-versus-thread demo: ``app`` is the code a learner reads (and what runs);
``runs`` starts, bounds and cleans up the runs."""

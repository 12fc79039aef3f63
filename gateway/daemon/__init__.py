"""``commgate run``: the supervisor of intakes and worker, its periodic jobs, sd_notify."""

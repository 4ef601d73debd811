"""KPIs: a site's samples of a day, and per-circuit KPIs, in day x site partitions."""

"""WAN performance analytics for Juniper Mist organisations, orchestrated by Dagster."""

//! Product KPI values (`usage_kpis`).

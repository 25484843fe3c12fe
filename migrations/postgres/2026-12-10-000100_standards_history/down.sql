DROP TABLE campaign_days;
DROP TABLE entity_scores;
DROP TABLE scorecard_days;

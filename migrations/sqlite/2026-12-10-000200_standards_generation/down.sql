DROP TABLE standards_state;

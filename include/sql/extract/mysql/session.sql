-- Run first on every MySQL/MariaDB warehouse connection: TIMESTAMP columns come back in UTC, as the
-- ops session reads a timestamp without an offset.
set time_zone = '+00:00'

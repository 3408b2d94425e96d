-- Reference images a client attaches to a booking request (re-encoded like portfolio uploads).
CREATE TABLE booking_references (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    booking_id INTEGER NOT NULL REFERENCES booking_requests (id) ON DELETE CASCADE,
    image_path TEXT NOT NULL,
    thumb_path TEXT NOT NULL
);
CREATE INDEX booking_references_booking ON booking_references (booking_id);

-- Reference images are served only to the request's two participants; each fetch looks up the
-- request by the image's key (expand-only: indexes, no change to existing rows).
CREATE INDEX booking_references_image ON booking_references (image_path);
CREATE INDEX booking_references_thumb ON booking_references (thumb_path);

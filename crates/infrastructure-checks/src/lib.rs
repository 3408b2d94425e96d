//! Structural checks of the Terraform tree: module interfaces, environment values, tags and docs.

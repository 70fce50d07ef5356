"""The lab's exercises. solutions/ is the source of truth; exercises/ is generated from it."""

"""The online consultation: the doctor's workstation, the consultation lifecycle and its timeline."""

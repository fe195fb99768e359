"""Diagnosis code tables: ICD-10 and TCM (GB/T 15657) editions, import and search."""

"""Structure validity audit: per-structure checks and set-level metrics.

>>> from gendesign.audit import audit
>>> result = audit("my_cifs/", reference="mp20")   # doctest: +SKIP
>>> result.table.head()                              # one row per structure
>>> result.summary.coverage.cov_recall
"""

from gendesign.audit.runner import PROTOCOLS, AuditResult, audit
from gendesign.audit.structure_audit import StructureAudit, audit_structure

__all__ = ["PROTOCOLS", "AuditResult", "StructureAudit", "audit", "audit_structure"]

# The subject-only ablation of DTMR on the embedded set: the subject scorer
# and its reconstruction loss alone (no relation, object or pair scorer);
# data, features and schedule of the DTMR config.
_base_ = ['./dtmr_c4-r50-w16-feats_synthetic-refcoco.py']
model = dict(head=dict(subject_only=True))

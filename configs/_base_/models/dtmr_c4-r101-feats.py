# DTMR (Sun et al., TPAMI 2021, arXiv 2106.04053) on cached C4 ResNet-101
# region features (2048-d fc7-style RoI features), 300-d word vectors learned
# from scratch (seeded random; the reconstruction targets are a frozen copy).
vocab_file = 'data/refcoco/vocab.json'
model = dict(
    type='TriadGrounder',
    word_embedding=dict(
        type='WordEmbedding', vocab=vocab_file, dim=300, init='random'),
    head=dict(
        type='TriadHead',
        vis_dim=2048,
        word_dim=300,
        loc_dim=512,
        hidden=512,
        # the released code pools with the raw scores
        attn_norm='raw',
        subject_only=False))

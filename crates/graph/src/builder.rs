//! The builder API: write models the way a PyTorch user writes `nn.Module`s.

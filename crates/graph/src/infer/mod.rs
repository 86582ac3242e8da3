//! Shape and dtype inference over the graph.

//! The full names of the pipeline's topics under one deployment's prefix: [`TopicNames`], kept
//! in `shop-topics` with the names themselves and re-exported here for the processors.

pub use shop_topics::TopicNames;

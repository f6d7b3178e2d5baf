/* SPDX-License-Identifier: MIT */
/**
 * @file v3/rbtree.h
 * Intrusive red-black tree.
 *
 * A struct v3_rb_node is embedded in the caller's object; the tree never
 * allocates.  The caller finds the insertion point itself (walking from
 * root with its own comparison), links the node with v3_rb_link() and then
 * rebalances with v3_rb_insert_fixup().  container_of-style v3_rb_entry()
 * turns a node back into the object.
 *
 * The tree does no locking; the owner serialises changes.  Nodes must be
 * at least 4-byte aligned (the colour is kept in the parent pointer).
 * Insert and erase are O(log n); the height never exceeds 2*log2(n+1).
 */
#ifndef V3_RBTREE_H
#define V3_RBTREE_H

#include <stddef.h>
#include <stdint.h>

/** Node embedded in the caller's object. */
struct v3_rb_node {
    uintptr_t parent_color;          /**< parent pointer | colour in bit 0 (1 = black) */
    struct v3_rb_node *left, *right;
};

/** A tree: NULL node means empty.  Initialise with V3_RB_ROOT_INIT. */
struct v3_rb_root {
    struct v3_rb_node *node;
};

#define V3_RB_ROOT_INIT { NULL }
#define v3_rb_entry(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))

/** Parent of @p n (NULL for the root). */
static inline struct v3_rb_node *v3_rb_parent(const struct v3_rb_node *n)
{
    return (struct v3_rb_node *)(n->parent_color & ~(uintptr_t)3);
}
/** Colour of @p n: non-zero for black (NULL leaves are black). */
static inline int v3_rb_is_black(const struct v3_rb_node *n)
{
    return !n || (n->parent_color & 1);
}

/** Link @p node as a red leaf under @p parent at @p link (&parent->left/right or &root->node). */
void v3_rb_link(struct v3_rb_node *node, struct v3_rb_node *parent, struct v3_rb_node **link);
/** Restore the red-black properties after v3_rb_link(). */
void v3_rb_insert_fixup(struct v3_rb_node *node, struct v3_rb_root *root);
/** Remove @p node from the tree (the node's memory is the caller's). */
void v3_rb_erase(struct v3_rb_node *node, struct v3_rb_root *root);

/** Leftmost (smallest) node, NULL for an empty tree.  O(log n). */
struct v3_rb_node *v3_rb_first(const struct v3_rb_root *root);
/** Rightmost (largest) node, NULL for an empty tree.  O(log n). */
struct v3_rb_node *v3_rb_last(const struct v3_rb_root *root);
/** In-order successor of @p node, NULL after the last.  O(1) amortised over a walk. */
struct v3_rb_node *v3_rb_next(const struct v3_rb_node *node);
/** In-order predecessor of @p node, NULL before the first.  O(1) amortised over a walk. */
struct v3_rb_node *v3_rb_prev(const struct v3_rb_node *node);

#endif

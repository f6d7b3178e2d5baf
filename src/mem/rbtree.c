/* SPDX-License-Identifier: MIT */
/*
 * Intrusive red-black tree (see include/v3/rbtree.h).
 *
 * Missing children are NULL and count as black leaves.  The colour lives in
 * bit 0 of parent_color (1 = black, 0 = red); node addresses are at least
 * 4-byte aligned so the low bits of the parent pointer are free.
 *
 * Invariants kept by insert_fixup and erase:
 *   1. the root is black;
 *   2. a red node has no red child;
 *   3. every path from a node down to a NULL leaf crosses the same number
 *      of black nodes.
 * Together they bound the height by 2*log2(n+1).
 */
#include <v3/rbtree.h>

#define RB_RED   0u
#define RB_BLACK 1u

static inline void set_parent(struct v3_rb_node *n, struct v3_rb_node *p)
{
    n->parent_color = (uintptr_t)p | (n->parent_color & 1u);
}

static inline void set_black(struct v3_rb_node *n) { n->parent_color |= RB_BLACK; }
static inline void set_red(struct v3_rb_node *n) { n->parent_color &= ~(uintptr_t)1; }
static inline int is_red(const struct v3_rb_node *n) { return n && !(n->parent_color & 1u); }

static inline void set_color_of(struct v3_rb_node *n, const struct v3_rb_node *from)
{
    n->parent_color = (n->parent_color & ~(uintptr_t)1) | (from->parent_color & 1u);
}

/* Make @p newc take @p old's place under old's parent (or as the root). */
static inline void replace_child(struct v3_rb_node *parent, struct v3_rb_node *old,
                                 struct v3_rb_node *newc, struct v3_rb_root *root)
{
    if (!parent)
        root->node = newc;
    else if (parent->left == old)
        parent->left = newc;
    else
        parent->right = newc;
}

/*
 *      x                y
 *     / \              / \
 *    a   y     ->     x   c
 *       / \          / \
 *      b   c        a   b
 */
static void rotate_left(struct v3_rb_node *x, struct v3_rb_root *root)
{
    struct v3_rb_node *y = x->right;
    struct v3_rb_node *p = v3_rb_parent(x);

    x->right = y->left;
    if (y->left)
        set_parent(y->left, x);
    y->left = x;
    set_parent(y, p);
    replace_child(p, x, y, root);
    set_parent(x, y);
}

/* Mirror image of rotate_left(). */
static void rotate_right(struct v3_rb_node *x, struct v3_rb_root *root)
{
    struct v3_rb_node *y = x->left;
    struct v3_rb_node *p = v3_rb_parent(x);

    x->left = y->right;
    if (y->right)
        set_parent(y->right, x);
    y->right = x;
    set_parent(y, p);
    replace_child(p, x, y, root);
    set_parent(x, y);
}

void v3_rb_link(struct v3_rb_node *node, struct v3_rb_node *parent, struct v3_rb_node **link)
{
    node->parent_color = (uintptr_t)parent | RB_RED;
    node->left = NULL;
    node->right = NULL;
    *link = node;
}

void v3_rb_insert_fixup(struct v3_rb_node *n, struct v3_rb_root *root)
{
    for (;;) {
        struct v3_rb_node *p = v3_rb_parent(n);
        struct v3_rb_node *g, *u;

        if (!p) {               /* n is the root */
            set_black(n);
            return;
        }
        if (!is_red(p))         /* nothing violated */
            return;
        g = v3_rb_parent(p);    /* exists: a red node is never the root */
        u = (g->left == p) ? g->right : g->left;
        if (is_red(u)) {
            /* Red uncle: push the blackness down from the grandparent and
             * continue two levels up. */
            set_black(p);
            set_black(u);
            set_red(g);
            n = g;
            continue;
        }
        /* Black uncle: at most two rotations finish the job. */
        if (g->left == p) {
            if (p->right == n) {
                rotate_left(p, root);
                n = p;
                p = v3_rb_parent(n);
            }
            set_black(p);
            set_red(g);
            rotate_right(g, root);
        } else {
            if (p->left == n) {
                rotate_right(p, root);
                n = p;
                p = v3_rb_parent(n);
            }
            set_black(p);
            set_red(g);
            rotate_left(g, root);
        }
        return;
    }
}

/*
 * Rebalance after removing a black node: @p x (possibly NULL) under parent
 * @p xp carries an extra black that has to be absorbed or moved up.
 */
static void erase_fixup(struct v3_rb_node *x, struct v3_rb_node *xp, struct v3_rb_root *root)
{
    while (x != root->node && !is_red(x)) {
        struct v3_rb_node *w;

        if (xp->left == x) {
            w = xp->right;                  /* non-NULL: x's side is short one black */
            if (is_red(w)) {
                set_black(w);
                set_red(xp);
                rotate_left(xp, root);
                w = xp->right;
            }
            if (!is_red(w->left) && !is_red(w->right)) {
                set_red(w);
                x = xp;
                xp = v3_rb_parent(x);
                continue;
            }
            if (!is_red(w->right)) {
                set_black(w->left);
                set_red(w);
                rotate_right(w, root);
                w = xp->right;
            }
            set_color_of(w, xp);
            set_black(xp);
            set_black(w->right);
            rotate_left(xp, root);
        } else {
            w = xp->left;
            if (is_red(w)) {
                set_black(w);
                set_red(xp);
                rotate_right(xp, root);
                w = xp->left;
            }
            if (!is_red(w->left) && !is_red(w->right)) {
                set_red(w);
                x = xp;
                xp = v3_rb_parent(x);
                continue;
            }
            if (!is_red(w->left)) {
                set_black(w->right);
                set_red(w);
                rotate_left(w, root);
                w = xp->left;
            }
            set_color_of(w, xp);
            set_black(xp);
            set_black(w->left);
            rotate_right(xp, root);
        }
        x = root->node;
        break;
    }
    if (x)
        set_black(x);
}

void v3_rb_erase(struct v3_rb_node *z, struct v3_rb_root *root)
{
    struct v3_rb_node *x, *xp;
    int removed_black;

    if (!z->left || !z->right) {
        /* z has at most one child: splice it out directly. */
        x = z->left ? z->left : z->right;
        xp = v3_rb_parent(z);
        removed_black = !is_red(z);
        if (x)
            set_parent(x, xp);
        replace_child(xp, z, x, root);
    } else {
        /* Two children: the successor y (leftmost of the right subtree,
         * so without a left child) takes z's place and colour. */
        struct v3_rb_node *y = z->right;

        while (y->left)
            y = y->left;
        removed_black = !is_red(y);
        x = y->right;
        if (v3_rb_parent(y) == z) {
            xp = y;
        } else {
            xp = v3_rb_parent(y);
            xp->left = x;
            if (x)
                set_parent(x, xp);
            y->right = z->right;
            set_parent(z->right, y);
        }
        y->left = z->left;
        set_parent(z->left, y);
        replace_child(v3_rb_parent(z), z, y, root);
        y->parent_color = z->parent_color;      /* parent and colour of z */
    }
    if (removed_black)
        erase_fixup(x, xp, root);
    z->parent_color = 0;
    z->left = z->right = NULL;
}

struct v3_rb_node *v3_rb_first(const struct v3_rb_root *root)
{
    struct v3_rb_node *n = root->node;

    if (!n)
        return NULL;
    while (n->left)
        n = n->left;
    return n;
}

struct v3_rb_node *v3_rb_last(const struct v3_rb_root *root)
{
    struct v3_rb_node *n = root->node;

    if (!n)
        return NULL;
    while (n->right)
        n = n->right;
    return n;
}

struct v3_rb_node *v3_rb_next(const struct v3_rb_node *n)
{
    struct v3_rb_node *p;

    if (n->right) {
        n = n->right;
        while (n->left)
            n = n->left;
        return (struct v3_rb_node *)n;
    }
    /* Climb until we come up from a left child. */
    while ((p = v3_rb_parent(n)) && p->right == n)
        n = p;
    return p;
}

struct v3_rb_node *v3_rb_prev(const struct v3_rb_node *n)
{
    struct v3_rb_node *p;

    if (n->left) {
        n = n->left;
        while (n->right)
            n = n->right;
        return (struct v3_rb_node *)n;
    }
    while ((p = v3_rb_parent(n)) && p->left == n)
        n = p;
    return p;
}

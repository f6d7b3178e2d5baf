/* SPDX-License-Identifier: MIT */
/*
 * Red-black tree test: random inserts and erases checked after every
 * operation against a sorted-array reference, with a full invariant check
 * (root black, no red-red, equal black height, in-order keys, parent
 * pointers) and first/last/next/prev walks.
 *
 *   test_rbtree [--ops N] [--keys K] [--seed S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "v3test.h"

struct item {
    uint64_t key;
    struct v3_rb_node node;
};

static long opt_ops = 220000;     /* about 110,000 inserts+erases */
static long opt_keys = 512;
static unsigned long long opt_seed = 0x5eed1234ull;

static uint64_t rng_state;
static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}

#define KEY(n) (v3_rb_entry((n), struct item, node)->key)

/* Checker: returns NULL if @p root is a valid red-black tree holding exactly
 * the @p n sorted keys in @p ref, else a description of the first problem. */
static const char *bad;
static size_t walk_i;

static int check_sub(const struct v3_rb_node *n, const struct v3_rb_node *parent,
                     const uint64_t *ref, size_t nref)
{
    int lh, rh;

    if (!n)
        return 1;
    if (v3_rb_parent(n) != parent) {
        bad = "parent pointer inconsistent";
        return -1;
    }
    if (!v3_rb_is_black(n) && parent && !v3_rb_is_black(parent)) {
        bad = "red node with red parent";
        return -1;
    }
    if ((n->parent_color & 2) != 0) {
        bad = "stray bit in parent_color";
        return -1;
    }
    lh = check_sub(n->left, n, ref, nref);
    if (lh < 0)
        return -1;
    if (walk_i >= nref || KEY(n) != ref[walk_i]) {
        bad = "in-order keys differ from the reference";
        return -1;
    }
    if (walk_i > 0 && ref[walk_i - 1] >= KEY(n)) {
        bad = "keys not strictly increasing";
        return -1;
    }
    walk_i++;
    rh = check_sub(n->right, n, ref, nref);
    if (rh < 0)
        return -1;
    if (lh != rh) {
        bad = "unequal black height";
        return -1;
    }
    return lh + (v3_rb_is_black(n) ? 1 : 0);
}

static const char *check_tree(const struct v3_rb_root *root, const uint64_t *ref, size_t nref)
{
    const struct v3_rb_node *n;
    size_t i;

    bad = NULL;
    walk_i = 0;
    if (root->node && !v3_rb_is_black(root->node))
        return "root is red";
    if (check_sub(root->node, NULL, ref, nref) < 0)
        return bad;
    if (walk_i != nref)
        return "tree has fewer nodes than the reference";
    /* forward and backward walks */
    for (i = 0, n = v3_rb_first(root); n; n = v3_rb_next(n), i++)
        if (i >= nref || KEY(n) != ref[i])
            return "first/next walk differs";
    if (i != nref)
        return "first/next walk too short";
    for (i = nref, n = v3_rb_last(root); n; n = v3_rb_prev(n)) {
        if (i == 0 || KEY(n) != ref[i - 1])
            return "last/prev walk differs";
        i--;
    }
    if (i != 0)
        return "last/prev walk too short";
    return NULL;
}

/* Standard descent insert; returns 0 if the key already exists. */
static int tree_insert(struct v3_rb_root *root, struct item *it)
{
    struct v3_rb_node **link = &root->node, *parent = NULL;

    while (*link) {
        parent = *link;
        if (it->key < KEY(parent))
            link = &parent->left;
        else if (it->key > KEY(parent))
            link = &parent->right;
        else
            return 0;
    }
    v3_rb_link(&it->node, parent, link);
    v3_rb_insert_fixup(&it->node, root);
    return 1;
}

static struct item *tree_find(struct v3_rb_root *root, uint64_t key)
{
    struct v3_rb_node *n = root->node;

    while (n) {
        if (key < KEY(n))
            n = n->left;
        else if (key > KEY(n))
            n = n->right;
        else
            return v3_rb_entry(n, struct item, node);
    }
    return NULL;
}

/* Reference: sorted array. */
static size_t ref_find(const uint64_t *ref, size_t n, uint64_t key)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ref[mid] < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void test_empty(void **state)
{
    struct v3_rb_root root = V3_RB_ROOT_INIT;

    (void)state;
    assert_null(v3_rb_first(&root));
    assert_null(v3_rb_last(&root));
    assert_null(check_tree(&root, NULL, 0));
}

static void test_ascending_descending(void **state)
{
    enum { N = 2048 };
    struct v3_rb_root root = V3_RB_ROOT_INIT;
    struct item *items = calloc(N, sizeof(*items));
    uint64_t *ref = calloc(N, sizeof(*ref));
    const char *err;
    size_t i;

    (void)state;
    /* ascending inserts are the classic worst case for an unbalanced tree */
    for (i = 0; i < N; i++) {
        items[i].key = i * 3;
        ref[i] = i * 3;
        assert_int_equal(tree_insert(&root, &items[i]), 1);
        err = check_tree(&root, ref, i + 1);
        if (err)
            fail_msg("after ascending insert %zu: %s", i, err);
    }
    /* black height bound: height <= 2 log2(n+1) -> check the leftmost depth */
    {
        int depth = 0;
        const struct v3_rb_node *n = root.node;
        while (n) { depth++; n = n->left; }
        assert_true(depth <= 2 * 12);
    }
    /* erase from the top end */
    for (i = N; i-- > 0;) {
        v3_rb_erase(&items[i].node, &root);
        err = check_tree(&root, ref, i);
        if (err)
            fail_msg("after descending erase %zu: %s", i, err);
    }
    assert_null(root.node);
    free(items);
    free(ref);
}

static void test_random(void **state)
{
    size_t nkeys = (size_t)opt_keys;
    struct item *items = calloc(nkeys, sizeof(*items));
    char *present = calloc(nkeys, 1);
    uint64_t *ref = calloc(nkeys, sizeof(*ref));
    size_t nref = 0;
    struct v3_rb_root root = V3_RB_ROOT_INIT;
    long op, inserts = 0, erases = 0;

    (void)state;
    rng_state = opt_seed | 1;
    for (size_t i = 0; i < nkeys; i++)
        items[i].key = i * 7 + 1;              /* keys need not be dense */
    for (op = 0; op < opt_ops; op++) {
        size_t k = rnd() % nkeys;
        uint64_t key = items[k].key;
        size_t pos = ref_find(ref, nref, key);
        /* bias towards insert while small, erase while large: the tree size wanders */
        int want_insert = (rnd() % nkeys) >= nref;
        const char *err;

        if (want_insert && !present[k]) {
            assert_int_equal(tree_insert(&root, &items[k]), 1);
            memmove(&ref[pos + 1], &ref[pos], (nref - pos) * sizeof(*ref));
            ref[pos] = key;
            nref++;
            present[k] = 1;
            inserts++;
        } else if (!want_insert && present[k]) {
            assert_ptr_equal(tree_find(&root, key), &items[k]);
            v3_rb_erase(&items[k].node, &root);
            assert_int_equal(ref[pos], key);
            memmove(&ref[pos], &ref[pos + 1], (nref - pos - 1) * sizeof(*ref));
            nref--;
            present[k] = 0;
            erases++;
        } else if (want_insert) {
            /* duplicate: the insert must refuse and leave the tree as is */
            struct item dup = { .key = key };
            assert_int_equal(tree_insert(&root, &dup), 0);
        } else {
            assert_null(tree_find(&root, key));
        }
        err = check_tree(&root, ref, nref);
        if (err)
            fail_msg("op %ld (key %llu): %s", op, (unsigned long long)key, err);
    }
    printf("rbtree random: %ld ops (%ld inserts, %ld erases), final size %zu\n",
           opt_ops, inserts, erases, nref);
    assert_true(inserts + erases >= opt_ops / 3);
    if (opt_ops >= 220000)
        assert_true(inserts + erases >= 100000);
    free(items);
    free(present);
    free(ref);
}

/* The checker itself must catch broken trees, or the tests above prove nothing. */
static void test_checker_detects_corruption(void **state)
{
    enum { N = 64 };
    struct item items[N];
    uint64_t ref[N];
    struct v3_rb_root root = V3_RB_ROOT_INIT;
    struct v3_rb_node *n;

    (void)state;
    memset(items, 0, sizeof(items));
    for (int i = 0; i < N; i++) {
        items[i].key = (uint64_t)i;
        ref[i] = (uint64_t)i;
        tree_insert(&root, &items[i]);
    }
    assert_null(check_tree(&root, ref, N));

    root.node->parent_color &= ~(uintptr_t)1;           /* red root */
    assert_non_null(check_tree(&root, ref, N));
    root.node->parent_color |= 1;

    n = root.node->left;                                 /* flip a colour deep down */
    uintptr_t saved = n->parent_color;
    n->parent_color ^= 1;
    assert_non_null(check_tree(&root, ref, N));
    n->parent_color = saved;

    ref[10] = 1000;                                      /* key mismatch */
    assert_non_null(check_tree(&root, ref, N));
    ref[10] = 10;

    saved = n->parent_color;                             /* wrong parent */
    n->parent_color = (uintptr_t)&items[N - 1].node | (saved & 1);
    assert_non_null(check_tree(&root, ref, N));
    n->parent_color = saved;
    assert_null(check_tree(&root, ref, N));
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ops") && i + 1 < argc)
            opt_ops = atol(argv[++i]);
        else if (!strcmp(argv[i], "--cases") && i + 1 < argc)
            opt_ops = atol(argv[++i]);
        else if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            opt_keys = atol(argv[++i]);
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
            opt_seed = strtoull(argv[++i], NULL, 0);
    }
    if (opt_keys < 2)
        opt_keys = 2;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_ascending_descending),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_checker_detects_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

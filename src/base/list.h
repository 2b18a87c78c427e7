/* SPDX-License-Identifier: MIT */
/*
 * list.h - intrusive circular doubly-linked list (a head is a link whose
 * prev/next point to itself when empty).  No allocation, O(1) unlink.
 */
#ifndef NMR_SRC_LIST_H
#define NMR_SRC_LIST_H

#include <stddef.h>

typedef struct nmr_link {
    struct nmr_link *prev, *next;
} nmr_link;

static inline void nmr_list_init(nmr_link *head)
{
    head->prev = head->next = head;
}

static inline int nmr_list_empty(const nmr_link *head)
{
    return head->next == head;
}

static inline void nmr_list_add_tail(nmr_link *head, nmr_link *l)
{
    l->prev = head->prev;
    l->next = head;
    head->prev->next = l;
    head->prev = l;
}

static inline void nmr_list_del(nmr_link *l)
{
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->prev = l->next = l;
}

#define nmr_container_of(ptr, type, member) \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif

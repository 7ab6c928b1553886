// names.h — an enum's names in one table, read both ways.
//
// Each enum that users spell (on the command line, in messages) has one constexpr table of
// {value, name} next to its definition. Parsing a name, printing a value and listing the choices in an
// error message all read that table, so a name is written once and a value cannot silently fall back to
// another (an unknown name is nullopt, not a default).
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tapd {

template <typename E>
struct named {
    E value;
    std::string_view name;
};

template <typename E, std::size_t N>
constexpr std::optional<E> from_name(const std::array<named<E>, N>& table, std::string_view name) {
    for (const named<E>& n : table)
        if (n.name == name) return n.value;
    return std::nullopt;
}

// The value's name; "?" only for a value outside the enum's table (a bug the unit tests rule out).
template <typename E, std::size_t N>
constexpr std::string_view to_name(const std::array<named<E>, N>& table, E value) {
    for (const named<E>& n : table)
        if (n.value == value) return n.name;
    return "?";
}

// "a, b or c", for messages and usage text.
template <typename E, std::size_t N>
std::string name_choices(const std::array<named<E>, N>& table, std::string_view sep = ", ",
                         std::string_view last = " or ") {
    std::string s;
    for (std::size_t i = 0; i < N; ++i) {
        if (i) s += i + 1 == N ? last : sep;
        s += table[i].name;
    }
    return s;
}

// Both columns are unique: each value has one name and each name one value (checked at compile time by
// each table's static_assert).
template <typename E, std::size_t N>
constexpr bool names_unique(const std::array<named<E>, N>& table) {
    for (std::size_t i = 0; i < N; ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (table[i].value == table[j].value || table[i].name == table[j].name) return false;
    return true;
}

}  // namespace tapd

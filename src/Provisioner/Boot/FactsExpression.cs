using System.Globalization;
using System.Text.Json;

namespace Kldload.Provisioner.Boot;

/// <summary>A profile's facts criterion that does not parse; the message says where and why.</summary>
public sealed class FactsExpressionException(string message) : Exception(message);

/// <summary>
/// One comparison a profile makes on a node's facts:
/// <code>
/// expression := path operator literal
/// path       := "facts" ("." name)+          name: letters, digits, '_'
/// operator   := "==" | "!=" | ">=" | "&lt;=" | ">" | "&lt;"
/// literal    := "string" | number | true | false
/// </code>
/// A path walks objects by member name; on a list it applies to every item and holds when any item
/// satisfies the comparison (<c>facts.gpus.vendor == "nvidia"</c>: some GPU is NVIDIA), and the name
/// <c>count</c> on a list is its length (<c>facts.disks.count >= 2</c>). Strings compare without
/// regard to case; ordering operators need numbers on both sides. A value that is absent satisfies
/// nothing, except <c>!=</c>, which holds when no value equals the literal.
/// </summary>
public sealed record FactsExpression(IReadOnlyList<string> Path, string Operator, JsonElement Literal)
{
    private static readonly string[] Operators = ["==", "!=", ">=", "<=", ">", "<"];

    /// <summary>The longest expression accepted.</summary>
    public const int MaxLength = 512;

    public static FactsExpression Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength)
        {
            throw new FactsExpressionException($"'{text[..40]}...' is longer than {MaxLength} characters");
        }

        var s = text.Trim();
        var at = 0;
        while (at < s.Length && (char.IsAsciiLetterOrDigit(s[at]) || s[at] is '_' or '.'))
        {
            at++;
        }

        var path = s[..at].Split('.');
        if (path.Length < 2 || path[0] != "facts" || path.Any(p => p.Length == 0))
        {
            throw new FactsExpressionException($"'{text}': an expression starts with a path facts.NAME[.NAME...]");
        }

        var rest = s[at..].TrimStart();
        var op = Operators.FirstOrDefault(o => rest.StartsWith(o, StringComparison.Ordinal))
            ?? throw new FactsExpressionException($"'{text}': expected one of {string.Join(' ', Operators)} after {s[..at]}");
        var literalText = rest[op.Length..].Trim();
        JsonElement literal;
        try
        {
            using var document = JsonDocument.Parse(literalText);
            literal = document.RootElement.Clone();
        }
        catch (JsonException)
        {
            throw new FactsExpressionException($"'{text}': the value {literalText} is not a \"string\", a number, true or false");
        }

        if (literal.ValueKind is not (JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False))
        {
            throw new FactsExpressionException($"'{text}': the value {literalText} is not a \"string\", a number, true or false");
        }

        if (op is ">=" or "<=" or ">" or "<" && literal.ValueKind != JsonValueKind.Number)
        {
            throw new FactsExpressionException($"'{text}': {op} compares numbers");
        }

        return new FactsExpression(path[1..], op, literal);
    }

    /// <summary>Whether the facts (a JSON object) satisfy the comparison.</summary>
    public bool Matches(JsonElement facts)
    {
        var values = new List<JsonElement>();
        Collect(facts, 0, values);
        return Operator == "!=" ? !values.Any(Equal) : values.Any(Compare);
    }

    private void Collect(JsonElement at, int depth, List<JsonElement> values)
    {
        if (depth == Path.Count)
        {
            if (at.ValueKind == JsonValueKind.Array)
            {
                values.AddRange(at.EnumerateArray());
            }
            else
            {
                values.Add(at);
            }

            return;
        }

        var name = Path[depth];
        if (at.ValueKind == JsonValueKind.Object && at.TryGetProperty(name, out var member))
        {
            Collect(member, depth + 1, values);
        }
        else if (at.ValueKind == JsonValueKind.Array)
        {
            if (name == "count" && depth == Path.Count - 1)
            {
                using var length = JsonDocument.Parse(at.GetArrayLength().ToString(CultureInfo.InvariantCulture));
                values.Add(length.RootElement.Clone());
                return;
            }

            foreach (var item in at.EnumerateArray())
            {
                Collect(item, depth, values);
            }
        }
    }

    private bool Equal(JsonElement value) => Literal.ValueKind switch
    {
        JsonValueKind.String => value.ValueKind == JsonValueKind.String && string.Equals(value.GetString(), Literal.GetString(), StringComparison.OrdinalIgnoreCase),
        JsonValueKind.Number => value.ValueKind == JsonValueKind.Number && value.GetDouble() == Literal.GetDouble(),
        _ => value.ValueKind == Literal.ValueKind,
    };

    private bool Compare(JsonElement value)
    {
        if (Operator == "==")
        {
            return Equal(value);
        }

        if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var v))
        {
            return false;
        }

        var l = Literal.GetDouble();
        return Operator switch
        {
            ">=" => v >= l,
            "<=" => v <= l,
            ">" => v > l,
            "<" => v < l,
            _ => false,
        };
    }

    public override string ToString() => $"facts.{string.Join('.', Path)} {Operator} {Literal.GetRawText()}";
}

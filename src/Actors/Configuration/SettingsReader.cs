using System.Globalization;
using Akka.Configuration;

namespace PapaActors.Actors.Configuration;

/// <summary>Typed reads of `papa.*` keys whose errors name the key, the value and what is allowed.</summary>
internal sealed class SettingsReader(Config config)
{
    private string Raw(string key)
    {
        var path = $"{PapaConfig.Root}.{key}";
        if (!config.HasPath(path))
            throw new ConfigException($"'{path}' is missing");
        if (config.GetValue(path).IsArray())
            throw new ConfigException($"'{path}' must be a single value, not a list");
        return config.GetString(path) ?? ""; // HOCON's null
    }

    public int Int(string key, int min, int max = int.MaxValue)
    {
        var raw = Raw(key);
        if (!int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min || value > max)
            throw Bad(key, raw, max == int.MaxValue ? $"an integer >= {min}" : $"an integer from {min} to {max}");
        return value;
    }

    public long Long(string key, long min)
    {
        var raw = Raw(key);
        if (!long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) || value < min)
            throw Bad(key, raw, $"an integer >= {min}");
        return value;
    }

    public double Double(string key, double min, double max, bool minExclusive = false)
    {
        var raw = Raw(key);
        if (!double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            || double.IsNaN(value) || value > max || value < min || (minExclusive && value == min))
            throw Bad(key, raw, $"a number {(minExclusive ? ">" : ">=")} {min.ToString(CultureInfo.InvariantCulture)} and <= {max.ToString(CultureInfo.InvariantCulture)}");
        return value;
    }

    public bool Bool(string key)
    {
        var raw = Raw(key);
        return raw switch
        {
            "on" or "true" or "yes" => true,
            "off" or "false" or "no" => false,
            _ => throw Bad(key, raw, "on or off"),
        };
    }

    public string Choice(string key, IReadOnlyCollection<string> allowed)
    {
        var raw = Raw(key);
        return allowed.Contains(raw) ? raw : throw Bad(key, raw, $"one of {string.Join(" | ", allowed)}");
    }

    /// <summary>A string where "" means off.</summary>
    public string OptionalText(string key) => Raw(key);

    public string Text(string key)
    {
        var raw = Raw(key);
        return raw.Length > 0 ? raw : throw Bad(key, raw, "a non-empty string");
    }

    /// <param name="positive">0 is refused too: a timeout of 0 would mean waiting forever.</param>
    public TimeSpan Duration(string key, bool positive = false)
    {
        var raw = Raw(key);
        try
        {
            var value = config.GetTimeSpan($"{PapaConfig.Root}.{key}");
            return value > TimeSpan.Zero || (value == TimeSpan.Zero && !positive) ? value
                : throw Bad(key, raw, positive ? "a duration > 0 such as 90s or 10m" : "a non-negative duration such as 90s or 10m");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw Bad(key, raw, "a duration such as 90s or 10m");
        }
    }

    public long ByteSize(string key, long min, long max)
    {
        var raw = Raw(key);
        long? value;
        try
        {
            value = config.GetByteSize($"{PapaConfig.Root}.{key}");
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            value = null;
        }
        return value is { } v && v >= min && v <= max ? v : throw Bad(key, raw, $"a size from {min} to {max} bytes, such as 512KiB");
    }

    public IReadOnlyList<double> Numbers(string key, double min, double max, int? count = null)
    {
        var items = List(key, item => double.TryParse(item, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && v >= min && v <= max,
            $"numbers from {min.ToString(CultureInfo.InvariantCulture)} to {max.ToString(CultureInfo.InvariantCulture)}");
        if (count is { } expected && items.Count != expected)
            throw new ConfigException($"'{PapaConfig.Root}.{key}' needs exactly {expected} numbers, got {items.Count}");
        return items.Select(i => double.Parse(i, CultureInfo.InvariantCulture)).ToList();
    }

    public IReadOnlyList<string> List(string key, Func<string, bool> valid, string allowed)
    {
        var path = $"{PapaConfig.Root}.{key}";
        var value = config.GetValue(path);
        if (value is null || !value.IsArray())
            throw new ConfigException($"'{path}' must be a list such as [a, b]");
        if (value.GetArray().Any(v => v.IsArray() || v.IsObject()))
            throw new ConfigException($"'{path}' must be a list of single values such as [a, b], not of lists or objects");
        var items = value.GetArray().Select(v => v.GetString() ?? "").ToList();
        if (items.Count == 0)
            throw new ConfigException($"'{path}' must not be empty");
        var bad = items.FirstOrDefault(i => !valid(i));
        return bad is null ? items : throw Bad(key, bad, allowed);
    }

    private static ConfigException Bad(string key, string raw, string expected) =>
        new($"'{PapaConfig.Root}.{key}' = '{PapaConfig.Clip(raw)}' is not allowed: expected {expected}");
}

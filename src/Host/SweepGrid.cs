using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using PapaActors.Actors.Configuration;

namespace PapaActors.Host;

/// <summary>
/// The grid of `papa sweep`: the Cartesian product of the `--set key=a,b,...` value lists, in the order given,
/// times the seeds of `--seeds`. A comma inside [...] or {...} does not split (`variations.mixup=[0.0,0.4],[0.0,0.8]`
/// is two values). Each combination is a run folder named by its settings: every key (without `papa.`) in the
/// order given, then the seed, as `key=value` joined with `_`.
/// </summary>
internal sealed partial class SweepGrid
{
    /// <summary>One --set: the key as given (`papa.` dropped) and its values.</summary>
    private sealed record Axis(string Key, IReadOnlyList<string> Values);

    /// <summary>One run of the grid: its folder name and the --set overrides that configure it, the seed last.</summary>
    public sealed record Combination(string Name, IReadOnlyList<string> Overrides);

    private readonly IReadOnlyList<Axis> _axes;
    private readonly IReadOnlyList<long> _seeds;

    private SweepGrid(IReadOnlyList<Axis> axes, IReadOnlyList<long> seeds) => (_axes, _seeds) = (axes, seeds);

    /// <summary>The grid of the --set and --seeds arguments; anything malformed is a <see cref="ConfigException"/> naming it.</summary>
    public static SweepGrid Parse(IReadOnlyList<string> sets, string? seeds)
    {
        var axes = new List<Axis>();
        foreach (var set in sets)
        {
            var split = set.IndexOf('=');
            if (split <= 0)
                throw new ConfigException($"--set expects key=value,value,..., got '{set}'");
            var key = set[..split].Trim();
            if (key.StartsWith(PapaConfig.Root + ".", StringComparison.Ordinal))
                key = key[(PapaConfig.Root.Length + 1)..];
            if (key == "seed")
                throw new ConfigException($"--set {set}: the seeds of a sweep are given with --seeds, e.g. --seeds 1-3");
            if (axes.Any(a => a.Key == key))
                throw new ConfigException($"--set {set}: the key '{key}' is given twice; list all its values in one --set {key}=a,b");
            var values = SplitValues(set[(split + 1)..]);
            if (values.Any(v => v.Length == 0))
                throw new ConfigException($"--set {set}: an empty value; give the values as {key}=a,b,...");
            if (values.GroupBy(v => v).FirstOrDefault(g => g.Count() > 1) is { } repeated)
                throw new ConfigException($"--set {set}: the value '{repeated.Key}' is given twice");
            axes.Add(new Axis(key, values));
        }
        return new SweepGrid(axes, ParseSeeds(seeds));
    }

    /// <summary>Splits at the commas outside brackets and braces; each value trimmed.</summary>
    private static List<string> SplitValues(string list)
    {
        var values = new List<string>();
        var (depth, start) = (0, 0);
        for (var i = 0; i < list.Length; i++)
        {
            if (list[i] is '[' or '{')
                depth++;
            else if (list[i] is ']' or '}')
                depth--;
            else if (list[i] == ',' && depth == 0)
            {
                values.Add(list[start..i].Trim());
                start = i + 1;
            }
        }
        values.Add(list[start..].Trim());
        return values;
    }

    [GeneratedRegex(@"^(\d+)(?:-(\d+))?$")]
    private static partial Regex SeedItem();

    /// <summary>`1-3`, `1,2,5`, `4` (or a mix such as `1-3,7`): each seed once.</summary>
    private static List<long> ParseSeeds(string? text)
    {
        if (string.IsNullOrWhiteSpace(text))
            throw new ConfigException("papa sweep needs --seeds, e.g. --seeds 1-3, --seeds 1,2,5 or --seeds 4");
        var seeds = new List<long>();
        foreach (var item in text.Split(',').Select(s => s.Trim()))
        {
            var match = SeedItem().Match(item);
            if (!match.Success || !long.TryParse(match.Groups[1].Value, out var first)
                || !long.TryParse(match.Groups[2].Success ? match.Groups[2].Value : match.Groups[1].Value, out var last) || last < first)
                throw new ConfigException($"--seeds {text}: '{item}' is not a seed (0, 1, ...) or a range such as 1-3");
            for (var seed = first; seed <= last; seed++)
            {
                if (seeds.Contains(seed))
                    throw new ConfigException($"--seeds {text}: the seed {seed} is given twice");
                seeds.Add(seed);
            }
        }
        return seeds;
    }

    /// <summary>Every combination, the seed outermost (a whole grid per seed), then the keys in the order given.</summary>
    public IReadOnlyList<Combination> Combinations()
    {
        IEnumerable<IReadOnlyList<(string Key, string Value)>> settings = [[]];
        foreach (var axis in _axes)
            settings = settings.SelectMany(s => axis.Values.Select(v => (IReadOnlyList<(string Key, string Value)>)[.. s, (axis.Key, v)])).ToList();
        var combinations = (
            from seed in _seeds
            from setting in settings
            let all = setting.Append((Key: "seed", Value: seed.ToString(CultureInfo.InvariantCulture))).ToList()
            select new Combination(string.Join("_", all.Select(p => $"{FileNameSafe(p.Key)}={FileNameSafe(p.Value)}")), all.Select(p => $"{p.Key}={p.Value}").ToList())
        ).ToList();
        if (combinations.GroupBy(c => c.Name).FirstOrDefault(g => g.Count() > 1) is { } clash)
            throw new ConfigException($"the settings {string.Join(" and ", clash.Select(c => string.Join(" ", c.Overrides)))} give the same folder name {clash.Key}");
        return combinations;
    }

    /// <summary>
    /// A value as part of a folder name: white space dropped, characters other than letters, digits and `.,+-[]@`
    /// written as %XX (UTF-8), `%` and `_` included, so distinct values keep distinct names.
    /// </summary>
    private static string FileNameSafe(string text)
    {
        var name = new StringBuilder();
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var rune in text.EnumerateRunes().Where(r => !Rune.IsWhiteSpace(r)))
        {
            if (rune.IsAscii && (char.IsAsciiLetterOrDigit((char)rune.Value) || rune.Value is '.' or ',' or '+' or '-' or '[' or ']' or '@'))
                name.Append((char)rune.Value);
            else
                foreach (var b in utf8[..rune.EncodeToUtf8(utf8)])
                    name.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return name.ToString();
    }
}

using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using Akka.Configuration;
using Akka.Configuration.Hocon;

namespace PapaActors.Actors.Configuration;

/// <summary>
/// Loads run configuration: `--set` overrides, then the user's file, then the documented defaults
/// (hocon/reference.conf, embedded in this assembly). Every key under `papa` must exist in the defaults.
/// </summary>
public static class PapaConfig
{
    public const string Root = "papa";
    private static readonly string[] AllowedRoots = [Root, "akka"];

    public static Config Defaults { get; } = ConfigurationFactory.ParseString(ReadResource("PapaActors.reference.conf"));

    /// <summary>Akka settings shared by every ActorSystem of the project (hocon/akka.conf, embedded).</summary>
    public static Config AkkaDefaults { get; } = ConfigurationFactory.ParseString(ReadResource("PapaActors.akka.conf"));

    /// <summary>Akka.Cluster settings of cluster nodes (hocon/cluster.conf, embedded).</summary>
    public static Config ClusterDefaults { get; } = ConfigurationFactory.ParseString(ReadResource("PapaActors.cluster.conf"));

    public static Config Load(string? file, IEnumerable<string> overrides)
    {
        var user = ConfigurationFactory.Empty;
        if (file is not null)
        {
            if (!File.Exists(file))
                throw new ConfigException($"config file not found: {file}");
            user = Parse(File.ReadAllText(file), file);
        }
        foreach (var assignment in overrides)
            user = ParseOverride(assignment).WithFallback(user);
        Validate(user);
        return user.WithFallback(Defaults);
    }

    /// <summary>Parses `key=value`; a value that is not a number, boolean, list or object is taken as a string.</summary>
    public static Config ParseOverride(string assignment)
    {
        var split = assignment.IndexOf('=');
        if (split <= 0)
            throw new ConfigException($"--set expects key=value, got '{assignment}'");
        var key = assignment[..split].Trim();
        var value = assignment[(split + 1)..].Trim();
        if (!key.StartsWith(Root + ".", StringComparison.Ordinal) && !key.StartsWith("akka.", StringComparison.Ordinal))
            key = $"{Root}.{key}";
        var literal = IsLiteral(value) ? value : Quote(value);
        return Parse($"{key} = {literal}", $"--set {assignment}");
    }

    private static bool IsLiteral(string value) =>
        value.StartsWith('[') || value.StartsWith('{') || value is "on" or "off" or "true" or "false" or "yes" or "no"
        || double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out _);

    private static Config Parse(string text, string source)
    {
        CheckStructure(text, source);
        try
        {
            return ConfigurationFactory.ParseString(text);
        }
        catch (Exception e) when (e is FormatException or ConfigurationException)
        {
            throw new ConfigException($"{source}: not valid HOCON ({e.Message.Split('\n')[0].Trim()})", e);
        }
    }

    // Quoted strings ("""...""" or "...") and comments (# or // to the end of the line): no structure inside them.
    private static readonly Regex StringsAndComments = new(@"""""""[\s\S]*?""""""|""(?:\\.|[^""\\\n])*""|(?:#|//)[^\n]*");
    private static readonly Regex IncludeDirective = new(@"(?<=(?:^|[{,])[ \t]*)include\s", RegexOptions.Multiline);

    /// <summary>
    /// Refuses what Akka's HOCON parser gets wrong: `include` (it crashes, and would read any file it names), and
    /// braces or brackets that do not balance (it silently ignores a trailing `}}}`).
    /// </summary>
    private static void CheckStructure(string text, string source)
    {
        string At(int index) => $"{source}: line {text.AsSpan(0, index).Count('\n') + 1}";
        // Blanked out, strings and comments keep their line breaks, so indices and line numbers still match the text.
        var code = StringsAndComments.Replace(text, m => Regex.Replace(m.Value, "[^\n]", " "));
        var include = IncludeDirective.Match(code);
        if (include.Success)
            throw new ConfigException($"{At(include.Index)}: `include` is not supported; copy the keys into this file or pass them with --set");
        var open = new Stack<int>();
        for (var i = 0; i < code.Length; i++)
        {
            if (code[i] is '{' or '[')
                open.Push(i);
            else if (code[i] is '}' or ']' && (open.Count == 0 || code[open.Pop()] != (code[i] == '}' ? '{' : '[')))
                throw new ConfigException($"{At(i)}: unbalanced '{code[i]}'");
        }
        if (open.TryPeek(out var unclosed))
            throw new ConfigException($"{At(unclosed)}: '{code[unclosed]}' is never closed");
    }

    /// <summary>Rejects keys that the defaults do not have, and objects given where a value belongs (or the reverse).</summary>
    public static void Validate(Config user)
    {
        if (user.IsEmpty)
            return;
        foreach (var (path, value) in Leaves(user.Root, ""))
        {
            var root = path.Split('.')[0];
            if (!AllowedRoots.Contains(root))
                throw new ConfigException($"unknown key '{path}': only keys under {string.Join(" and ", AllowedRoots)} are allowed");
            if (root != Root)
                continue;
            if (!Defaults.HasPath(path) || Defaults.GetValue(path).IsObject())
                throw new ConfigException($"unknown key '{path}'{Suggestion(path)}");
            if (value.IsObject())
                throw new ConfigException($"'{path}' must be a value, not an object");
        }
    }

    private static string Suggestion(string path)
    {
        var known = Leaves(Defaults.Root, "").Select(l => l.Path).ToList();
        var closest = known.MinBy(k => Distance(k, path));
        var parent = path[..Math.Max(0, path.LastIndexOf('.'))];
        var siblings = known.Where(k => k.StartsWith(parent + ".", StringComparison.Ordinal) && k[(parent.Length + 1)..].IndexOf('.') < 0);
        return $" (did you mean '{closest}'? keys of {parent}: {string.Join(", ", siblings.Select(s => s[(parent.Length + 1)..]))})";
    }

    private static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var previous = row[0];
            row[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var current = row[j];
                row[j] = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), previous + (a[i - 1] == b[j - 1] ? 0 : 1));
                previous = current;
            }
        }
        return row[b.Length];
    }

    private static IEnumerable<(string Path, HoconValue Value)> Leaves(HoconValue value, string path)
    {
        if (!value.IsObject())
        {
            yield return (path, value);
            yield break;
        }
        foreach (var (key, child) in value.GetObject().Items)
            foreach (var leaf in Leaves(child, path.Length == 0 ? key : $"{path}.{key}"))
                yield return leaf;
    }

    /// <summary>
    /// Renders the resolved `papa` section, and the `akka` keys the user gave (a resumed run keeps its node
    /// settings, such as a quicker failure detector), as HOCON that parses back to the same settings. Every
    /// leaf is written as a JSON string (Akka's HOCON reads numbers and booleans from strings too), so paths
    /// and other text never need HOCON's unquoted-string rules.
    /// </summary>
    public static string Render(Config config)
    {
        var text = new StringBuilder();
        var akka = config.HasPath("akka") ? Leaves(config.GetValue("akka"), "akka") : [];
        foreach (var (path, value) in Leaves(config.GetValue(Root), Root).Concat(akka))
        {
            var rendered = value.IsArray()
                ? "[" + string.Join(", ", value.GetArray().Select(v => Quote(v.GetString()))) + "]"
                : Quote(value.GetString());
            text.Append(path).Append(" = ").AppendLine(rendered);
        }
        return text.ToString();
    }

    /// <summary>Every `papa` key with its resolved value as text (a list as `[a, b]`), in the order of hocon/reference.conf.</summary>
    public static IEnumerable<(string Key, string Value)> Values(Config config) =>
        Leaves(Defaults.GetValue(Root), Root).Select(leaf => (leaf.Path, TextOf(config.GetValue(leaf.Path))));

    private static string TextOf(HoconValue value) =>
        value.IsArray() ? "[" + string.Join(", ", value.GetArray().Select(v => v.GetString())) + "]" : value.GetString();

    private static readonly JsonSerializerOptions QuoteOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    internal static string Quote(string text) => JsonSerializer.Serialize(text, QuoteOptions);

    private static string ReadResource(string name)
    {
        using var stream = typeof(PapaConfig).Assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"embedded resource {name} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}

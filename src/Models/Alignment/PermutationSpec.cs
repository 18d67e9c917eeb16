using System.Collections.Immutable;
using PapaActors.Models.Nets;
using PapaActors.Models.Weights;

namespace PapaActors.Models.Alignment;

/// <summary>
/// Part of one axis of one weight entry that a permutation group orders: group positions [Start, Start + Count) sit at
/// axis indices Offset + i * Inner ... Offset + (i + 1) * Inner - 1 for position Start + i (Inner > 1 where a conv's
/// channels were flattened into a Linear's inputs).
/// </summary>
public sealed record AxisSegment(string Entry, int Axis, string Group, int Start, int Count, long Offset, long Inner);

/// <summary>
/// Which axes of a model's weights its hidden units' permutations act on (Git Re-Basin's permutation spec): permuting the
/// units of a group the same way on every axis it appears in leaves the function of the network unchanged.
/// <list type="bullet">
/// <item>mlp, cnn, vgg: a chain; every conv or linear layer but the last opens a group (its outputs, their bias and the
/// BatchNorm after them) that the next layer's inputs follow.</item>
/// <item>ResNets: each block's inner channels are a group; the residual stream is shared by every block it passes
/// through. A projection shortcut (resnet18) starts a new stream group; an option-A shortcut (resnet20) keeps the
/// previous stream in the middle of the wider one and adds a group for the zero-padded channels around it, so the
/// channels a shortcut carries are permuted exactly as the block's input.</item>
/// </list>
/// </summary>
public sealed class PermutationSpec
{
    private PermutationSpec(IReadOnlyDictionary<string, int> groups, IReadOnlyList<AxisSegment> segments)
    {
        Groups = groups;
        Segments = segments;
    }

    /// <summary>Group name -> number of units, in the order the groups were found.</summary>
    public IReadOnlyDictionary<string, int> Groups { get; }

    public IReadOnlyList<AxisSegment> Segments { get; }

    /// <summary>The spec of zoo model <paramref name="model"/> with weights of <paramref name="layout"/>.</summary>
    public static PermutationSpec For(string model, WeightLayout layout) =>
        model.StartsWith("resnet", StringComparison.Ordinal) ? ResNetSpec(layout) : ChainSpec(layout);

    private sealed class Builder(WeightLayout layout)
    {
        public readonly Dictionary<string, int> Groups = [];
        public readonly List<AxisSegment> Segments = [];
        private readonly Dictionary<string, WeightEntry> _entries = layout.Entries.ToDictionary(e => e.Name);

        public bool Has(string entry) => _entries.ContainsKey(entry);
        public ImmutableArray<long> Shape(string entry) => _entries[entry].Shape;

        public string NewGroup(string name, int size)
        {
            Groups.Add(name, size);
            return name;
        }

        /// <summary>The axis of <paramref name="entry"/> laid out as <paramref name="composition"/> (segments at axis 0 of a stream).</summary>
        public void Place(string entry, int axis, IEnumerable<(string Group, int Start, int Count, long Offset)> composition, long inner = 1)
        {
            foreach (var (group, start, count, offset) in composition)
                Segments.Add(new AxisSegment(entry, axis, group, start, count, offset * inner, inner));
        }

        /// <summary>Every 1-D entry of a BatchNorm (weight, bias, running statistics), if the module has one.</summary>
        public IEnumerable<string> Norm(string module) =>
            new[] { "weight", "bias", "running_mean", "running_var" }.Select(n => $"{module}.{n}").Where(Has);
    }

    private static PermutationSpec ChainSpec(WeightLayout layout)
    {
        var build = new Builder(layout);
        // Conv and linear weights are the entries of two or more dimensions; the parameters are in forward order here.
        var layers = layout.Entries.Where(e => e.Shape.Length >= 2).ToList();
        // A module's 1-D entries (bias, BatchNorm) follow the last layer before its first parameter; its buffers come
        // after all parameters in the layout, so they are looked up by module.
        var groupOfModule = new Dictionary<string, string?>();
        string? group = null;
        foreach (var entry in layout.Entries)
        {
            if (entry.Shape.Length >= 2)
            {
                if (group is not null)
                {
                    var size = build.Groups[group];
                    build.Place(entry.Name, 1, [(group, 0, size, 0)], inner: entry.Shape[1] / size);
                }
                group = entry == layers[^1] ? null : build.NewGroup(entry.Name[..entry.Name.LastIndexOf('.')], (int)entry.Shape[0]);
                groupOfModule[entry.Name[..entry.Name.LastIndexOf('.')]] = group;
                if (group is not null)
                    build.Place(entry.Name, 0, [(group, 0, build.Groups[group], 0)]);
            }
            else if (entry.Shape.Length == 1)
            {
                var module = entry.Name[..entry.Name.LastIndexOf('.')];
                if (!groupOfModule.TryGetValue(module, out var owner))
                    groupOfModule[module] = owner = group;
                if (owner is not null)
                    build.Place(entry.Name, 0, [(owner, 0, build.Groups[owner], 0)]);
            }
        }
        return new PermutationSpec(build.Groups, build.Segments);
    }

    private static PermutationSpec ResNetSpec(WeightLayout layout)
    {
        var build = new Builder(layout);
        var stemChannels = (int)build.Shape("conv1.weight")[0];
        List<(string Group, int Start, int Count, long Offset)> stream = [(build.NewGroup("stream", stemChannels), 0, stemChannels, 0)];
        void PlaceOutputs(string conv, string norm, IEnumerable<(string, int, int, long)> composition)
        {
            build.Place($"{conv}.weight", 0, composition);
            foreach (var entry in build.Norm(norm))
                build.Place(entry, 0, composition);
        }
        PlaceOutputs("conv1", "bn1", stream);
        for (var stage = 1; build.Has($"layer{stage}.0.conv1.weight"); stage++)
        {
            for (var block = 0; build.Has($"layer{stage}.{block}.conv1.weight"); block++)
            {
                var prefix = $"layer{stage}.{block}";
                var shape = build.Shape($"{prefix}.conv1.weight");
                var (outChannels, inChannels) = ((int)shape[0], (int)shape[1]);
                var inner = build.NewGroup($"{prefix}.inner", outChannels);
                build.Place($"{prefix}.conv1.weight", 1, stream);
                PlaceOutputs($"{prefix}.conv1", $"{prefix}.bn1", [(inner, 0, outChannels, 0)]);
                build.Place($"{prefix}.conv2.weight", 1, [(inner, 0, outChannels, 0)]);
                if (build.Has($"{prefix}.shortcut.0.weight"))
                {
                    build.Place($"{prefix}.shortcut.0.weight", 1, stream);
                    stream = [(build.NewGroup($"{prefix}.stream", outChannels), 0, outChannels, 0)];
                    PlaceOutputs($"{prefix}.shortcut.0", $"{prefix}.shortcut.1", stream);
                }
                else if (outChannels != inChannels)
                {
                    // Option A: [zeros before | the input's channels | zeros after]; the zero channels are a group of their own.
                    var (before, after) = ResNet.ZeroPadding(inChannels, outChannels);
                    var padding = build.NewGroup($"{prefix}.padding", before + after);
                    stream = [(padding, 0, before, 0), .. stream.Select(s => (s.Group, s.Start, s.Count, s.Offset + before)), (padding, before, after, before + inChannels)];
                }
                PlaceOutputs($"{prefix}.conv2", $"{prefix}.bn2", stream);
            }
        }
        build.Place("linear.weight", 1, stream);
        return new PermutationSpec(build.Groups, build.Segments);
    }
}

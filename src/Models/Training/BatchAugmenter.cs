using TorchSharp;
using static TorchSharp.torch;

namespace PapaActors.Models.Training;

/// <summary>
/// A member's augmentations, applied to whole batches on tensors, with every random draw from a generator
/// seeded by (run seed, member, step): a given step's batch is augmented the same way in every run.
/// Order: base augmentation on [0, 1] pixels, normalisation, random erasing (zeros after normalisation, as
/// timm), then mixup or cutmix with the reversed batch as partner (timm's batch mode).
/// </summary>
public sealed class BatchAugmenter(BaseAugmentation baseAugmentation, MemberVariation variation, int classes, long seed, int member)
{
    private const double MinimumErasedArea = 0.02;
    private const double MaximumErasedArea = 1.0 / 3;
    private const double MinimumAspect = 0.3;
    private const int ErasingAttempts = 10;

    public MemberVariation Variation => variation;

    public Generator GeneratorFor(long step) => new Generator().manual_seed(Seeds.Derive(seed, Seeds.Stream.Augmentation, member, step));

    /// <summary>Random crop (zero padding) and horizontal flip on [N, C, H, W] images in [0, 1].</summary>
    public Tensor ApplyBase(Tensor images, Generator generator)
    {
        if (baseAugmentation.Crop && baseAugmentation.CropPadding > 0)
            images = RandomCrop(images, baseAugmentation.CropPadding, generator);
        if (baseAugmentation.HorizontalFlip)
        {
            using var half = Scalars.Of(0.5);
            var flip = rand(images.shape[0], generator: generator).lt(half).view(-1, 1, 1, 1);
            images = where(flip, images.flip(3), images);
        }
        return images;
    }

    private static Tensor RandomCrop(Tensor images, int padding, Generator generator)
    {
        var (n, c, h, w) = (images.shape[0], images.shape[1], images.shape[2], images.shape[3]);
        var padded = nn.functional.pad(images, [padding, padding, padding, padding]);
        var dy = randint(0, 2 * padding + 1, [n], generator: generator, device: images.device);
        var dx = randint(0, 2 * padding + 1, [n], generator: generator, device: images.device);
        var rows = dy.view(n, 1, 1, 1).add(Scalars.Arange(0, h, device: images.device).view(1, 1, h, 1), Scalars.One).expand(n, c, h, w + 2 * padding);
        var cropped = padded.gather(2, rows);
        var columns = dx.view(n, 1, 1, 1).add(Scalars.Arange(0, w, device: images.device).view(1, 1, 1, w), Scalars.One).expand(n, c, h, w);
        return cropped.gather(3, columns);
    }

    /// <summary>
    /// timm's RandomErasing (mode const, one box): each image with probability p gets one box of 2% to 1/3 of its
    /// area, log-uniform aspect ratio in [0.3, 1/0.3], set to zero; up to ten tries for a box that fits.
    /// </summary>
    public Tensor ApplyRandomErasing(Tensor images, Generator generator)
    {
        if (variation.RandomErasing <= 0)
            return images;
        var (n, h, w) = (images.shape[0], images.shape[2], images.shape[3]);
        var device = images.device;
        using var probability = Scalars.Of(variation.RandomErasing);
        var pending = rand(n, generator: generator, device: device).lt(probability);
        var top = zeros(n, ScalarType.Int64, device);
        var left = zeros(n, ScalarType.Int64, device);
        var height = zeros(n, ScalarType.Int64, device);
        var width = zeros(n, ScalarType.Int64, device);
        using var areaSpan = Scalars.Of((MaximumErasedArea - MinimumErasedArea) * h * w);
        using var areaMinimum = Scalars.Of(MinimumErasedArea * h * w);
        using var logSpan = Scalars.Of(-2 * Math.Log(MinimumAspect));
        using var logMinimum = Scalars.Of(Math.Log(MinimumAspect));
        using var imageHeight = Scalars.Of(h);
        using var imageWidth = Scalars.Of(w);
        using var topChoices = Scalars.Of(h + 1);
        using var leftChoices = Scalars.Of(w + 1);
        for (var attempt = 0; attempt < ErasingAttempts; attempt++)
        {
            var area = rand(n, generator: generator, device: device).mul_(areaSpan).add_(areaMinimum, Scalars.One);
            var aspect = rand(n, generator: generator, device: device).mul_(logSpan).add_(logMinimum, Scalars.One).exp_();
            var boxHeight = area.mul(aspect).sqrt_().round_().to_type(ScalarType.Int64);
            var boxWidth = area.div(aspect).sqrt_().round_().to_type(ScalarType.Int64);
            var fits = pending.logical_and(boxHeight.lt(imageHeight)).logical_and(boxWidth.lt(imageWidth));
            // top in [0, h - boxHeight] and left in [0, w - boxWidth], uniformly (timm's randint is inclusive)
            var boxTop = rand(n, generator: generator, device: device).mul_(boxHeight.neg().add(topChoices, Scalars.One)).floor_().to_type(ScalarType.Int64);
            var boxLeft = rand(n, generator: generator, device: device).mul_(boxWidth.neg().add(leftChoices, Scalars.One)).floor_().to_type(ScalarType.Int64);
            top = where(fits, boxTop, top);
            left = where(fits, boxLeft, left);
            height = where(fits, boxHeight, height);
            width = where(fits, boxWidth, width);
            pending = pending.logical_and(fits.logical_not());
        }
        var rows = Scalars.Arange(0, h, device: device).view(1, h, 1);
        var columns = Scalars.Arange(0, w, device: device).view(1, 1, w);
        var inside = rows.ge(top.view(n, 1, 1)).logical_and(rows.lt(top.add(height, Scalars.One).view(n, 1, 1)))
            .logical_and(columns.ge(left.view(n, 1, 1))).logical_and(columns.lt(left.add(width, Scalars.One).view(n, 1, 1)));
        return images.masked_fill(inside.unsqueeze(1), Scalars.Zero);
    }

    /// <summary>
    /// Mixup or cutmix with the reversed batch (one lambda ~ Beta(alpha, alpha) per batch; with both enabled,
    /// cutmix half of the time), and the matching soft targets with label smoothing: lambda * y + (1 - lambda) * y_reversed.
    /// Without either, the targets are the smoothed one-hot labels.
    /// </summary>
    public (Tensor Images, Tensor Targets, BatchMix Mix) ApplyMixing(Tensor images, Tensor labels, Generator generator)
    {
        var targets = SmoothedOneHot(labels);
        if (!variation.MixesImages)
            return (images, targets, new BatchMix("none", 1, null));

        using var half = Scalars.Of(0.5);
        var useCutmix = variation.Cutmix > 0 && (variation.Mixup <= 0 || rand(1, generator: generator).lt(half).item<bool>());
        var alpha = useCutmix ? variation.Cutmix : variation.Mixup;
        using var concentration = tensor((float)alpha);
        var lambda = (double)distributions.Beta(concentration, concentration, generator).sample().item<float>();
        var reversed = images.flip(0);
        BatchMix mix;
        if (useCutmix)
        {
            var (h, w) = (images.shape[2], images.shape[3]);
            var ratio = Math.Sqrt(1 - lambda);
            var (cutH, cutW) = ((long)(h * ratio), (long)(w * ratio));
            var cy = randint(0, h, [1], generator: generator).item<long>();
            var cx = randint(0, w, [1], generator: generator).item<long>();
            var (top, bottom) = (Math.Clamp(cy - cutH / 2, 0, h), Math.Clamp(cy + cutH / 2, 0, h));
            var (left, right) = (Math.Clamp(cx - cutW / 2, 0, w), Math.Clamp(cx + cutW / 2, 0, w));
            images = images.clone();
            images.narrow(2, top, bottom - top).narrow(3, left, right - left)
                .copy_(reversed.narrow(2, top, bottom - top).narrow(3, left, right - left));
            lambda = 1 - (double)(bottom - top) * (right - left) / (h * w);
            mix = new BatchMix("cutmix", lambda, (top, bottom, left, right));
        }
        else
        {
            using var keep = Scalars.Of(lambda);
            using var other = Scalars.Of(1 - lambda);
            images = images.mul(keep).add_(reversed, other);
            mix = new BatchMix("mixup", lambda, null);
        }
        using var own = Scalars.Of(lambda);
        using var partner = Scalars.Of(1 - lambda);
        return (images, targets.mul(own).add_(targets.flip(0), partner), mix);
    }

    /// <summary>One-hot targets with label smoothing s: 1 - s + s/C for the label, s/C elsewhere.</summary>
    public Tensor SmoothedOneHot(Tensor labels)
    {
        var smoothing = variation.LabelSmoothing;
        using var on = Scalars.Of(1 - smoothing);
        using var off = Scalars.Of(smoothing / classes);
        return nn.functional.one_hot(labels, classes).to_type(ScalarType.Float32).mul_(on).add_(off, Scalars.One);
    }
}
